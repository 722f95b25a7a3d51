from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("buy", views.buy, name="buy"),
    path("orders/<int:order_id>/done", views.done, name="done"),
    path("api/availability", views.availability, name="availability"),
    path("_shop/report", views.report, name="report"),
]
