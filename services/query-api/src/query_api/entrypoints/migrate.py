"""``python -m query_api.entrypoints.migrate``: bring the query schema to the latest revision."""

from pathlib import Path

from batteryhub_platform.db import migrate
from query_api.config import Settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def main() -> None:
    settings = Settings()
    migrate(MIGRATIONS, settings.database_dsn)


if __name__ == "__main__":
    main()
