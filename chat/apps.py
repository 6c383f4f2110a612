from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = _("Live room")

    def ready(self) -> None:
        from django.core.cache import cache
        from django.db.models.signals import post_delete, post_save

        from chat.models import BlockedWord
        from chat.selectors import BLOCKED_WORDS_CACHE_KEY

        def forget_blocked_words(**_kwargs: object) -> None:
            # Every process reads the list through the cache (Redis in production): one delete
            # makes the next message everywhere see the staff's edit.
            cache.delete(BLOCKED_WORDS_CACHE_KEY)

        post_save.connect(forget_blocked_words, sender=BlockedWord, weak=False, dispatch_uid="chat.blocked_words.save")
        post_delete.connect(
            forget_blocked_words, sender=BlockedWord, weak=False, dispatch_uid="chat.blocked_words.delete"
        )
