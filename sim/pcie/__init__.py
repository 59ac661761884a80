# SPDX-License-Identifier: BSD-2-Clause
"""The PCIe card's design under cocotbext-pcie's root complex (Verilator)."""
