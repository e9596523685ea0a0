"""Real-time fan-out of domain events to browsers (Server-Sent Events).

Publishers call :meth:`Hub.publish` after their transaction commits; browsers
subscribe to topics over SSE and resume after a dropped connection with
``Last-Event-ID`` (events are kept in a per-tenant ring buffer). When a client
has been away longer than the buffer reaches, it is told to ``resync`` and
reloads its snapshot: state = snapshot + events.
"""

from kefu.realtime.hub import Hub, Message, Subscription

__all__ = ["Hub", "Message", "Subscription"]
