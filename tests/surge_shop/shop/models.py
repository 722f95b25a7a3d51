"""One event with a number of places, and the orders that took them."""

from __future__ import annotations

from django.db import models


class Event(models.Model):
    name = models.CharField(max_length=200)
    places = models.PositiveIntegerField()
    sold = models.PositiveIntegerField(default=0)
    sold_out_at = models.FloatField(null=True)  # epoch seconds the last place went

    class Meta:
        app_label = "shop"

    @property
    def left(self) -> int:
        return max(0, self.places - self.sold)


class Order(models.Model):
    event = models.ForeignKey(Event, on_delete=models.CASCADE)
    name = models.CharField(max_length=200)
    email = models.EmailField()
    created_at = models.FloatField()  # epoch seconds

    class Meta:
        app_label = "shop"
