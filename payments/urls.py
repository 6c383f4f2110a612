from django.urls import URLPattern, path

from payments import views

app_name = "payments"
urlpatterns: list[URLPattern] = [
    path("<int:payment_id>/pay/", views.pay, name="pay"),
    path("<int:payment_id>/pay/test/", views.test_pay, name="test_pay"),
    path("webhooks/stripe/", views.stripe_webhook, name="stripe_webhook"),
    path("onboarding/start/", views.onboarding_start, name="onboarding_start"),
    path("onboarding/return/", views.onboarding_return, name="onboarding_return"),
    path("onboarding/refresh/", views.onboarding_refresh, name="onboarding_refresh"),
    path("test-mode/onboarding/<str:account_id>/", views.test_onboarding, name="test_onboarding"),
]
