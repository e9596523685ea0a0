"""Import every domain's tables so ``Base.metadata`` is complete (migrations, tests)."""

from kefu.audit import models as audit_models
from kefu.tenancy import models as tenancy_models

__all__ = ["audit_models", "tenancy_models"]
