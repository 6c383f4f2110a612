from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TipsConfig(AppConfig):
    """Tips to guides, thank-you messages and the guide's earnings page.

    A Django app of its own inside payments/ (label ``tips``): its models, migrations and the
    handler it registers for ``Payment.Kind.TIP`` stay apart from the money path it calls.
    """

    name = "payments.tips"
    label = "tips"
    verbose_name = _("Tips")

    def ready(self) -> None:
        # A tip is marked paid, announced in the live room and acknowledged when its payment says so.
        from payments.hooks import PaymentHandler, register_handler
        from payments.models import Payment
        from payments.tips import services

        register_handler(
            Payment.Kind.TIP,
            PaymentHandler(succeeded=services.tip_payment_succeeded, failed=services.tip_payment_failed),
        )
