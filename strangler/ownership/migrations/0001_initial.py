from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="ContextOwnership",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("context", models.CharField(max_length=100, unique=True)),
                ("writer", models.CharField(max_length=200)),
                ("frozen", models.BooleanField(default=False)),
                ("frozen_reason", models.CharField(blank=True, default="", max_length=500)),
                ("frozen_at", models.DateTimeField(blank=True, null=True)),
                ("epoch", models.PositiveBigIntegerField(default=0)),
                ("updated_at", models.DateTimeField()),
            ],
            options={"db_table": "strangler_ownership_context"},
        ),
        migrations.CreateModel(
            name="CutoverRun",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("context", models.CharField(max_length=100)),
                ("source", models.CharField(max_length=200)),
                ("target", models.CharField(max_length=200)),
                ("state", models.CharField(choices=[("running", "Running"), ("completed", "Completed"), ("aborted", "Aborted")], default="running", max_length=16)),
                ("step", models.CharField(blank=True, default="", max_length=32)),
                ("log", models.JSONField(default=list)),
                ("error", models.TextField(blank=True, default="")),
                ("started_at", models.DateTimeField()),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={"db_table": "strangler_ownership_cutover_run", "ordering": ["id"]},
        ),
        migrations.AddConstraint(
            model_name="cutoverrun",
            constraint=models.UniqueConstraint(condition=models.Q(("state", "running")), fields=("context",), name="ownership_one_running_cutover"),
        ),
    ]
