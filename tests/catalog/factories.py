import factory

from apps.catalog.models import Api, ApiStatus, Category, Endpoint
from tests.factories import OrganizationFactory


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")


class ApiFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Api

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Api {n}")
    slug = factory.Sequence(lambda n: f"api-{n}")
    summary = "Does useful things."
    description = "A **useful** API."
    description_html = "<p>A <strong>useful</strong> API.</p>"
    upstream_url = "http://127.0.0.1:9/upstream"
    status = ApiStatus.PUBLISHED


class EndpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Endpoint

    api = factory.SubFactory(ApiFactory)
    method = "GET"
    path = factory.Sequence(lambda n: f"/things/{n}")
    summary = "Get a thing"
