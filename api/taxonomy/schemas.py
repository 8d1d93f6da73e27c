"""Request and response bodies of the taxonomy API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from api.schemas import StorableStr

NAME_PATTERN = r"^[a-z][a-z0-9_]{1,63}$"
MAX_EXAMPLES = 50
Mode = Literal["replace", "extend"]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must contain non-whitespace text")
    return value.strip()


ExampleText = Annotated[StorableStr, Field(max_length=2000), AfterValidator(_not_blank)]


class CategoryIn(BaseModel):
    """A new category of the tenant's own, with a few example texts (Vietnamese or English)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="lower_snake_case, 2-64 characters.")
    description: StorableStr = Field(default="", max_length=2000)
    examples: list[ExampleText] = Field(min_length=1, max_length=MAX_EXAMPLES)


class CategoryPatch(BaseModel):
    """Changes to a category: a new description, a new set of examples, more examples."""

    model_config = ConfigDict(extra="forbid")

    description: StorableStr | None = Field(default=None, max_length=2000)
    examples: list[ExampleText] | None = Field(
        default=None, min_length=1, max_length=MAX_EXAMPLES, description="Replaces them all."
    )
    add_examples: list[ExampleText] = Field(default_factory=list, max_length=MAX_EXAMPLES)


class ModeIn(BaseModel):
    """Whether the tenant's categories replace the default eight or extend them."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode


class ExampleOut(BaseModel):
    """An example text; ``embedded`` once a worker has embedded it (it then counts)."""

    text: str
    embedded: bool


class CategoryOut(BaseModel):
    """One of the tenant's own categories."""

    name: str
    description: str
    examples: list[ExampleOut]
    created_at: datetime
    updated_at: datetime


class CategoryList(BaseModel):
    """The tenant's own categories, by name."""

    items: list[CategoryOut]


class JobOut(BaseModel):
    """A re-categorisation job and its progress."""

    id: UUID
    status: Literal["queued", "running", "done", "failed"]
    taxonomy_version: int | None
    total: int
    processed: int
    changed: int = Field(description="Analyses whose category changed.")
    progress: float = Field(description="processed / total, 0-1 (1 when there was nothing).")
    requested_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None


class TaxonomyOut(BaseModel):
    """The categories in force for the tenant."""

    mode: Mode | None = Field(description="None: the default eight, no taxonomy of its own.")
    version: int | None = Field(description="Bumped by every change; analyses record it.")
    categories: list[str] = Field(description="What an item's category can be now.")
    own: list[CategoryOut]
    latest_job: JobOut | None
