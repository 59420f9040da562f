"""Pure domain logic of the command centre: no Dash imports, no engine creation."""
