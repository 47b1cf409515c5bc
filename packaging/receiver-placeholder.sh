#!/bin/sh
# Placeholder for granary-receiver, installed by the package build only while the source
# tree has no granary-receiver CMake target (see packaging/README.md). It says so and exits
# with EX_CONFIG (78), which the unit does not restart on.
echo "granary-receiver: this package was built before the receiver existed in the source tree; nothing to run" >&2
exit 78
