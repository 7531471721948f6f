# The delivery's webhook reference without a database foreign key: its check locked the
# webhook's row on every delivery (see WebhookDelivery.webhook); the receiver's INSERT checks
# that the webhook exists instead.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("webexteams", "0005_delivery_transport"),
    ]

    operations = [
        migrations.AlterField(
            model_name="webhookdelivery",
            name="webhook",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="deliveries",
                to="webexteams.webhook",
                verbose_name="webhook",
            ),
        ),
    ]
