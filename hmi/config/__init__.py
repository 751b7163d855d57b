"""Station and recipe configuration: pydantic schemas, TOML files, --set overrides."""
