from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "incubator.events"
    label = "events"
    verbose_name = "Events (outbox)"
