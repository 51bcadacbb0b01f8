"""The command target's plan model: deploy a release by running argv lists, never a shell.

Modelled on the hand-run VM runbooks (``git checkout TAG && install &&
restart``), each step an argv list templated per argument with ``str.format``::

    target:
      type: command
      cwd: /srv/shop
      state_dir: /var/lib/rollsafe/shop
      deploy:
        - [git, -C, "{cwd}", fetch, --tags, --quiet]
        - [git, -C, "{cwd}", checkout, --quiet, "v{release}"]
        - [supervisorctl, restart, shop]
      endpoints: ["http://10.0.0.5:8000", "http://10.0.0.6:8000"]
      timeout: 2m

Unknown placeholders (and anything but a plain ``{name}``: no attribute,
index or conversion) are refused when the plan loads, naming the argument.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator

from rollsafe.config.health import HealthCheck
from rollsafe.config.types import Duration, StrictModel

COMMAND_PLACEHOLDERS = ("release", "previous", "cwd", "state_dir", "service", "python")
"""Placeholders of commands and ``env`` values.

``{release}`` is the release being made live; ``{previous}`` the one live
before this operation (empty when none: on a rollback it is the release being
left); ``{python}`` the controller's interpreter; ``{service}`` the plan's service.
"""

ENDPOINT_PLACEHOLDERS = ("service", "cwd", "state_dir")
"""Placeholders of ``endpoints`` (they do not depend on the release)."""


def placeholders(text: str) -> list[str]:
    """The ``{names}`` in ``text``; ValueError for a malformed or non-plain field."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc} (write a literal brace as {{{{ or }}}})") from None
    names = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(
                f"{text!r}: {{{name}{'!' + conversion if conversion else ''}"
                f"{':' + spec if spec else ''}}} is not a plain placeholder like {{release}}"
            )
        names.append(name)
    return names


def _checker(known: tuple[str, ...]) -> Any:
    def check(text: str) -> str:
        unknown = [name for name in placeholders(text) if name not in known]
        if unknown:
            raise ValueError(
                f"unknown placeholder {{{unknown[0]}}} in {text!r}; "
                f"known: {', '.join('{' + name + '}' for name in known)}"
            )
        return text

    return check


CommandArg = Annotated[str, AfterValidator(_checker(COMMAND_PLACEHOLDERS))]
EndpointTemplate = Annotated[str, AfterValidator(_checker(ENDPOINT_PLACEHOLDERS))]
Argv = Annotated[list[CommandArg], Field(min_length=1)]


def _steps(value: Any) -> Any:
    """One argv list (``[git, pull]``) is shorthand for a list of one step."""
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return [value]
    return value


Steps = Annotated[list[Argv], BeforeValidator(_steps)]


class CommandTarget(StrictModel):
    """Deploy, roll back, start and stop a service by running commands (see the module doc).

    A deploy runs ``deploy`` step by step (each within ``timeout``; the first
    failure stops it), then waits until every endpoint passes ``health``, then
    runs ``verify``. Going back to the previous release runs ``rollback``
    instead (``deploy`` with that release when unset).
    """

    type: Literal["command"] = "command"
    deploy: Annotated[Steps, Field(min_length=1)]
    rollback: Steps | None = None
    verify: Steps = Field(default_factory=list)
    """Run after the health checks pass; a failure is a failed health check."""
    start: Steps | None = None
    """Start the current release; ``deploy`` with it when unset."""
    stop: Steps = Field(default_factory=list)
    """Stop the service (before a data restore); nothing is stopped when empty."""
    endpoints: Annotated[list[EndpointTemplate], Field(min_length=1)]
    """Base URLs of the service's instances, health-checked and scraped."""
    health: HealthCheck = HealthCheck()
    cwd: Path
    """Working directory of every command (the checkout)."""
    env: dict[str, CommandArg] = Field(default_factory=dict)
    """Added to the controller's environment for every command; values are templated."""
    timeout: Annotated[Duration, Field(gt=0)] = 300.0
    """Per command; on expiry its whole process group is killed."""
    state_dir: Path
    """Holds ``state.json`` (current and previous release) and the lock."""
    lock_wait: Annotated[Duration, Field(gt=0)] | None = None
    """How long an operation waits for the lock another rollsafe process holds before
    the attempt gives up (a busy target, which the controller retries); by default
    long enough for the slowest deploy or rollback of this target."""

    @field_validator("endpoints")
    @classmethod
    def _http(cls, endpoints: list[str]) -> list[str]:
        for url in endpoints:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} must start with http:// or https://")
        return [url.rstrip("/") for url in endpoints]

    def resolved(self, base: Path) -> CommandTarget:
        """A copy with relative ``cwd`` and ``state_dir`` resolved against ``base``."""
        return self.model_copy(update={"cwd": base / self.cwd, "state_dir": base / self.state_dir})
