from django import forms
from django.utils.html import format_html

from .models import Api, Category, Endpoint


def _slug_help(slug: str):
    return format_html(
        "Your API's address: <code>/gw/<span data-slug-preview>{}</span>/…</code> and "
        "<code>/apis/<span data-slug-preview>{}</span>/</code>. Lower-case letters, digits and "
        "dashes; left empty, it is made from the name.",
        slug or "your-api",
        slug or "your-api",
    )


class ApiForm(forms.ModelForm):
    tags = forms.CharField(required=False, help_text="Comma-separated, e.g. ocr, pdf, invoices.")

    class Meta:
        model = Api
        fields = [
            "name",
            "slug",
            "summary",
            "category",
            "tags",
            "description",
            "upstream_url",
            "upstream_timeout_s",
            "upstream_connect_timeout_s",
            "visibility",
            "logo",
            "website_url",
            "terms_url",
            "support_email",
            "support_url",
        ]
        labels = {
            "upstream_url": "Upstream base URL",
            "upstream_timeout_s": "Read timeout (seconds)",
            "upstream_connect_timeout_s": "Connect timeout (seconds)",
            "summary": "One-line summary",
        }
        help_texts = {
            "summary": "Shown on catalog cards; 160 characters at most.",
            "description": "Markdown. What it does, who it is for, limits, an example.",
            "upstream_url": "Where the gateway forwards calls, e.g. https://api.example.com/v1. "
            "Must be reachable on the public internet.",
            "logo": "PNG, JPEG, GIF or WebP, square, 512 KB at most.",
        }
        widgets = {
            "description": forms.Textarea(attrs={"rows": 10}),
            "logo": forms.ClearableFileInput(
                attrs={"accept": "image/png,image/jpeg,image/gif,image/webp"}
            ),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        self.fields["slug"].help_text = _slug_help(self.instance.slug)
        # tollgate.js suggests a slug from the name until the provider edits the slug
        self.fields["slug"].widget.attrs.update(
            {"data-slug-from": self["name"].id_for_label, "placeholder": "suggested from the name"}
        )
        self.fields["category"].queryset = Category.objects.all()
        if self.instance.pk:
            self.initial["tags"] = ", ".join(self.instance.tags)

    def _post_clean(self):
        """Model validation runs in the service (URL safety, slug rules, tags)."""


class SpecImportForm(forms.Form):
    file = forms.FileField(
        required=False,
        label="Upload a file",
        help_text="openapi.json, openapi.yaml — OpenAPI 3.0 or 3.1.",
    )
    text = forms.CharField(
        required=False,
        label="…or paste it",
        widget=forms.Textarea(attrs={"class": "code", "rows": 14, "spellcheck": "false"}),
    )

    def clean(self):
        data = super().clean()
        if not data.get("file") and not data.get("text", "").strip():
            raise forms.ValidationError("Upload a file or paste the document.")
        return data

    def source(self) -> bytes | str:
        upload = self.cleaned_data.get("file")
        return upload.read() if upload else self.cleaned_data["text"]


class EndpointForm(forms.ModelForm):
    tags = forms.CharField(required=False, help_text="Groups the endpoint in the reference.")
    method = forms.ChoiceField(
        choices=[(m, m) for m in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")]
    )

    class Meta:
        model = Endpoint
        fields = ["method", "path", "summary", "description", "tags", "deprecated"]
        widgets = {"description": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["tags"] = ", ".join(self.instance.tags)

    def _post_clean(self):
        """Uniqueness and path rules are checked by the service."""


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)
