"""The playbook: one versioned, validated file with every bank-specific choice."""

from kequn.playbook.load import LoadedPlaybook, default_playbook_path, load_playbook
from kequn.playbook.model import Playbook

__all__ = ["LoadedPlaybook", "Playbook", "default_playbook_path", "load_playbook"]
