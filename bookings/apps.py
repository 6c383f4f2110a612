from django.apps import AppConfig


class BookingsConfig(AppConfig):
    name = "bookings"

    def ready(self) -> None:
        # A paid booking is confirmed, released or shows its refund when its payment says so.
        from bookings import reservations
        from payments.hooks import PaymentHandler, register_handler
        from payments.models import Payment

        register_handler(
            Payment.Kind.BOOKING,
            PaymentHandler(
                lock=reservations.lock_booking_for_payment,
                succeeded=reservations.confirm_paid_booking,
                failed=reservations.release_unpaid_booking,
                refunded=reservations.record_booking_refund,
            ),
        )
