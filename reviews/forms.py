from __future__ import annotations

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from reviews import rules
from reviews.rules import ReviewSort

RATING_CHOICES = [
    (5, _("5 stars: excellent")),
    (4, _("4 stars: very good")),
    (3, _("3 stars: good")),
    (2, _("2 stars: disappointing")),
    (1, _("1 star: poor")),
]


class ReviewForm(forms.Form):
    rating = forms.TypedChoiceField(
        label=_("Your rating"),
        choices=RATING_CHOICES,
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose between 1 and 5 stars.")},
    )
    text = forms.CharField(
        label=_("Your review (optional)"),
        required=False,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 6, "maxlength": rules.TEXT_MAX_LENGTH}),
        help_text=format_lazy(
            _("What should future guests know? Leave it empty for a rating only, or write {min} to {max} characters."),
            min=rules.TEXT_MIN_LENGTH,
            max=rules.TEXT_MAX_LENGTH,
        ),
    )

    def clean_text(self) -> str:
        text: str = self.cleaned_data["text"]
        problem = rules.text_problem(text)
        if problem == "too_short":
            raise forms.ValidationError(
                _("Write at least %(min)d characters (you wrote %(count)d), or leave the text empty."),
                code="too_short",
                params={"min": rules.TEXT_MIN_LENGTH, "count": len(text)},
            )
        if problem == "too_long":
            raise forms.ValidationError(
                _("Keep it under %(max)d characters (you wrote %(count)d)."),
                code="too_long",
                params={"max": rules.TEXT_MAX_LENGTH, "count": len(text)},
            )
        return text


class ReplyForm(forms.Form):
    text = forms.CharField(
        label=_("Your reply"),
        strip=True,
        min_length=rules.REPLY_MIN_LENGTH,
        max_length=rules.REPLY_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Shown under the review, once: it cannot be changed afterwards."),
        error_messages={"required": _("Write a reply first.")},
    )


class ReviewListForm(forms.Form):
    """The sort and filter of a review list (query string); bad values fall back to the defaults."""

    sort = forms.ChoiceField(
        label=_("Sort by"),
        required=False,
        choices=[
            (ReviewSort.RECENT.value, _("Most recent")),
            (ReviewSort.HIGHEST.value, _("Highest rated")),
            (ReviewSort.LOWEST.value, _("Lowest rated")),
        ],
    )
    with_text = forms.BooleanField(label=_("Only reviews with text"), required=False)

    def options(self) -> tuple[ReviewSort, bool]:
        if not self.is_valid():
            return ReviewSort.RECENT, False
        return ReviewSort(self.cleaned_data["sort"] or ReviewSort.RECENT), bool(self.cleaned_data["with_text"])


class RejectionForm(forms.Form):
    """The reason staff give when rejecting reviews (the authors read it)."""

    reason = forms.CharField(
        label=_("Reason (sent to the author)"),
        max_length=500,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        error_messages={"required": _("Give the author a reason for the rejection.")},
    )
