"""Who may subscribe to which topics. Topics are ``name`` or ``name:key``."""

from __future__ import annotations

from dataclasses import dataclass

from kefu.core.actor import Actor
from kefu.core.errors import InvalidInput, PermissionDenied


@dataclass(frozen=True)
class TopicRule:
    name: str
    #: Permission needed, or None when the key must be the actor's own user id ("self" topics).
    permission: str | None
    keyed: bool = False


#: Every topic a browser may subscribe to. Domains add theirs here.
TOPIC_RULES: dict[str, TopicRule] = {
    # the supervisor wallboard: queues, agents by state, alerts
    "wallboard": TopicRule("wallboard", "wallboard.read"),
    # one agent's own desktop: offers, call states, status changes
    "agent": TopicRule("agent", None, keyed=True),
    # one queue's statistics
    "queue": TopicRule("queue", "wallboard.read", keyed=True),
    # early-warning alerts and incidents
    "alerts": TopicRule("alerts", "alerts.read"),
}

MAX_TOPICS = 32


def authorise_topics(actor: Actor, topics: list[str]) -> list[str]:
    """The topics as given, or an error naming the first one this actor may not read."""
    if not topics:
        raise InvalidInput("Name at least one topic, e.g. ?topic=wallboard.")
    if len(topics) > MAX_TOPICS:
        raise InvalidInput(f"At most {MAX_TOPICS} topics per connection.")
    for topic in topics:
        name, _, key = topic.partition(":")
        rule = TOPIC_RULES.get(name)
        if rule is None:
            raise InvalidInput(f"Unknown topic {topic!r}; known topics: {', '.join(sorted(TOPIC_RULES))}.")
        if rule.keyed and not key:
            raise InvalidInput(f"Topic {name!r} needs a key, e.g. {name}:<id>.")
        if rule.permission is None:
            if actor.user_id is None or key != str(actor.user_id):
                raise PermissionDenied(f"You can only follow your own {name!r} topic.")
        elif not actor.can(rule.permission):
            raise PermissionDenied(f"You need the '{rule.permission}' permission to follow {topic!r}.")
    return topics
