from django.db import migrations

from apps.catalog.categories import DEFAULT_CATEGORIES


def create_categories(apps, schema_editor):
    Category = apps.get_model("catalog", "Category")
    for position, (name, slug, description, icon) in enumerate(DEFAULT_CATEGORIES):
        Category.objects.get_or_create(slug=slug, defaults={
            "name": name, "description": description, "icon": icon, "position": position})


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [migrations.RunPython(create_categories, migrations.RunPython.noop)]
