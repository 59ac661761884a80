# SPDX-License-Identifier: BSD-2-Clause
from hw import toolenv

toolenv.apply()
