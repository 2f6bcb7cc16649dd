"""The contracts service's declarative base, with its own MetaData (its own database, its own migrations)."""

from sqlalchemy.orm import DeclarativeBase

from kit.db import metadata


class Base(DeclarativeBase):
    metadata = metadata()
