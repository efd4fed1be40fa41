"""`python -m analyzer.source.fetch debian:6.1 debian:6.12`: put kernel trees into the
kernels directory ($SKBDROP_KERNELS, default the cache's debian/), refreshing apt's
package lists if the download needs it (this is the step that is asked to fetch)."""
from __future__ import annotations

import sys

from analyzer.errors import InputError
from analyzer.source.tree import debian_tree, open_tree


def main(argv: list[str]) -> int:
    for spec in argv:
        try:
            t = (debian_tree(spec.split(":", 1)[1], apt_update=True) if spec.startswith("debian:")
                 else open_tree(spec))
        except InputError as e:
            sys.stderr.write(f"skbdrop: {e}\n")
            return 2
        print(f"{spec}: {t.version} in {getattr(t, 'root', t.source)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
