from django.urls import URLPattern, path

from payments.tips import views

app_name = "tips"
urlpatterns: list[URLPattern] = [
    path("tips/", views.my_tips, name="my_tips"),
    path("tips/slot/<int:slot_id>/", views.tip, name="tip"),
    path("tips/<int:tip_id>/", views.tip_detail, name="tip_detail"),
    path("dashboard/tips/", views.tips_received, name="tips_received"),
    path("dashboard/tips/<int:tip_id>/thank/", views.thank_tip, name="thank_tip"),
    path("dashboard/tips/thank-you-text/", views.save_thank_you_text, name="save_thank_you_text"),
    path("dashboard/earnings/", views.earnings, name="earnings"),
    path("dashboard/tips/live/<int:session_id>/", views.live_tips_feed, name="live_tips_feed"),
]
