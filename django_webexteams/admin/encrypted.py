"""Encrypted fields in the admin: redacted display, write-only inputs, deferred columns.

Tokens and secrets are never rendered: list and detail pages show a redacted form
(``••••abcd``), and forms take new values in write-only password inputs that are never
pre-filled. Encrypted columns are deferred in every admin queryset, and the redaction reads
the raw column, so a row no configured key decrypts shows as "unreadable (wrong key)".
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from django.db.models import ExpressionWrapper, F, QuerySet, TextField
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from django_webexteams import crypto
from django_webexteams.fields import EncryptedTextField

__all__ = [
    "EncryptedFieldsAdmin",
    "redact",
]


#: Shown instead of a value that no configured key can decrypt.
UNREADABLE = _("unreadable (wrong key)")


_MIN_LENGTH_FOR_HINT = 12


def redact(value: str | None) -> str:
    """``"••••abcd"`` for a long value, bullets only for a short one, "(empty)" for none."""
    if not value:
        return str(_("(empty)"))
    if len(value) < _MIN_LENGTH_FOR_HINT:
        return "••••"
    return "••••" + value[-4:]


def _raw_attr(name: str) -> str:
    return f"_webexteams_raw_{name}"


def encrypted_field_names(model: type[models.Model]) -> list[str]:
    return [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]


def defer_encrypted(qs: QuerySet[Any], *relations: str) -> QuerySet[Any]:
    """``qs`` with the encrypted columns of its model (and of ``relations``) deferred, so that
    loading rows never decrypts (and never raises ``DecryptionError``)."""
    names = list(encrypted_field_names(qs.model))
    for relation in relations:
        related: Any = qs.model._meta.get_field(relation).related_model
        names += [f"{relation}__{n}" for n in encrypted_field_names(related)]
    return qs.defer(*names) if names else qs


class WriteOnlySecretsForm(forms.ModelForm):  # type: ignore[type-arg]
    """A ModelForm whose encrypted fields are replaced by write-only password inputs.

    ``secret_inputs`` maps form field -> model field. Inputs are never pre-filled
    (``render_value=False``); a blank input keeps the stored value. ``required_on_add`` lists
    form fields that must be given when the object is created.
    """

    secret_inputs: dict[str, str] = {}
    required_on_add: tuple[str, ...] = ()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.instance.pk is None:
            for name in self.required_on_add:
                if not cleaned.get(name):
                    self.add_error(name, _("This field is required."))
        return cleaned

    def save(self, commit: bool = True) -> Any:
        obj = super().save(commit=False)
        for form_name, model_name in self.secret_inputs.items():
            value = (self.cleaned_data.get(form_name) or "").strip()
            if value:
                setattr(obj, model_name, value)
        if commit:
            obj.save()
            self._save_m2m()  # type: ignore[attr-defined]
        return obj


def _secret_input(label: Any, help_text: Any = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=help_text,
    )


class EncryptedFieldsAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Base admin: defers encrypted columns, annotates their raw value for redaction, and
    defers encrypted columns of the related objects in ``list_select_related`` and of the
    choices of foreign-key widgets."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)
        relations = self.list_select_related
        related = tuple(relations) if isinstance(relations, list | tuple) else ()
        qs = defer_encrypted(qs, *related)
        raw = {
            _raw_attr(name): ExpressionWrapper(F(name), output_field=TextField())
            for name in encrypted_field_names(self.model)
        }
        return qs.annotate(**raw) if raw else qs

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        # Security: the changelist applies query-string lookups to annotations too, and the
        # raw (ciphertext) columns annotated above for redaction must not become a filter:
        # "?_webexteams_raw_access_token__startswith=gAAAA" would let anyone who may view
        # the list read every stored ciphertext out of the result counts. Refused (400).
        if any(part.startswith(_raw_attr("")) for part in lookup.split(LOOKUP_SEP)):
            return False
        return bool(super().lookup_allowed(lookup, value, request))

    def formfield_for_foreignkey(
        self, db_field: models.ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> Any:
        related: Any = db_field.related_model
        if encrypted_field_names(related) and "queryset" not in kwargs:
            kwargs["queryset"] = defer_encrypted(related._default_manager.all())
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def redacted(self, obj: models.Model, name: str) -> str:
        """The redacted form of encrypted field ``name`` of ``obj`` (never the value)."""
        if obj.pk is None:
            return "—"
        attr = _raw_attr(name)
        if hasattr(obj, attr):
            raw = getattr(obj, attr)
        else:  # an object that did not come from get_queryset()
            raw = (
                type(obj)
                ._base_manager.filter(pk=obj.pk)
                .annotate(**{attr: ExpressionWrapper(F(name), output_field=TextField())})
                .values_list(attr, flat=True)
                .first()
            )
        if raw is None:
            return "—"
        try:
            return redact(crypto.decrypt(raw))
        except crypto.DecryptionError:
            return str(UNREADABLE)
