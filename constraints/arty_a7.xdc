# SPDX-License-Identifier: BSD-2-Clause
# MemGEN on the Arty A7-35T: what amaranth-boards' ArtyA7_35Platform does not set. It already
# sets CFGBVS VCCO, CONFIG_VOLTAGE 3.3 and SPI_BUSWIDTH 4; they are repeated here so that this
# file alone states the bank 0 configuration the board needs.
set_property CFGBVS VCCO [current_design]
set_property CONFIG_VOLTAGE 3.3 [current_design]
set_property BITSTREAM.GENERAL.COMPRESS TRUE [current_design]
set_property BITSTREAM.CONFIG.CONFIGRATE 33 [current_design]
set_property BITSTREAM.CONFIG.SPI_BUSWIDTH 4 [current_design]

# The USB-UART (FT2232H channel B, no flow control) and the LEDs are asynchronous to the
# 100 MHz clock: the UART receiver synchronises rx, and nothing samples tx or the LEDs on this
# clock. Without these exceptions Vivado reports the ports as unconstrained.
set_false_path -from [get_ports uart_0__rx__io]
set_false_path -to [get_ports uart_0__tx__io]
set_false_path -to [get_ports {led_*__io}]
