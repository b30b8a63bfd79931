"""Hosts: one connector interface, local (subprocess) and ssh (asyncssh)."""

import warnings

# asyncssh imports cryptography's DSA support, which cryptography deprecates with a warning
# printed at import: nothing a user of conveyor can act on, and it would precede every
# message of a command that connects to a host.
warnings.filterwarnings("ignore", message="DSA is deprecated", module=r"asyncssh\.")
