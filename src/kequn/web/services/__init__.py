"""The workbench's queries and commands; routes stay thin and call these."""
