# SPDX-License-Identifier: BSD-2-Clause
# MemGEN on the SQRL Acorn CLE-101/215(+): the configuration LiteX-Boards' sqrl_acorn.py sets
# (bank 0 at 3.3 V, quad SPI flash at 16 MHz), and the asynchronous pins.
set_property CFGBVS VCCO [current_design]
set_property CONFIG_VOLTAGE 3.3 [current_design]
set_property BITSTREAM.GENERAL.COMPRESS TRUE [current_design]
set_property BITSTREAM.CONFIG.CONFIGRATE 16 [current_design]
set_property BITSTREAM.CONFIG.SPI_BUSWIDTH 4 [current_design]

# PERST# from the host and the LEDs are asynchronous; the core synchronises PERST#.
set_false_path -from [get_ports pcie_x4_0__rst_n__io]
set_false_path -to [get_ports {led_*__io}]
set_false_path -to [get_ports pcie_clkreq_n_0__io]
