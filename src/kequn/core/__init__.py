"""Small shared pieces every layer may use: errors, time, config files."""
