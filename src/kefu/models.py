"""Import every domain's tables so ``Base.metadata`` is complete (migrations, tests)."""

from kefu.domains import import_models

import_models()
