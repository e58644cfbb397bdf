"""One root for every error the service expects: `HilError`.

The runner records a strategy run as *broken* only for these; anything else
(an `IndexError` in a decoder, a `TypeError` in a workflow) is a bug in this
package and propagates with its traceback.

- `ConfigError`: what the user wrote or chose is wrong (plan, inventory,
  dataset, device selection). Found before any device is touched where possible.
- `TargetError`: a device under test could not be built, flashed, started, or
  it died (backends, firmware builds, images, locks).
- `LinkError` (hil_service.link): the serial link could not deliver a request.
- `DeviceError` (hil_service.device): the firmware answered with an error.
"""

from __future__ import annotations

__all__ = ["ConfigError", "HilError", "TargetError"]


class HilError(Exception):
    """An expected failure whose message names the problem and the place."""


class ConfigError(HilError, ValueError):
    """A plan, inventory, data set or device selection is wrong."""


class TargetError(HilError, RuntimeError):
    """A device under test could not be brought up, or died."""
