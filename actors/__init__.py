"""luactor: an actor runtime whose actors are sandboxed Lua programs.

``Node.open(app_dir)`` is the way in; see the README for the tour.
"""

from .errors import ActorError
from .mailbox import Mailbox, Message
from .node import Node
from .registry import RegistryError

__all__ = ["ActorError", "Mailbox", "Message", "Node", "RegistryError"]
