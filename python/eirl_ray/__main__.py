"""`python -m eirl_ray`: see `eirl_ray.launcher`."""

import sys

from eirl_ray.launcher import main

if __name__ == "__main__":
    sys.exit(main())
