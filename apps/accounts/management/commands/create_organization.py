import json

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.services import api_key_create, organization_create
from apps.common.exceptions import DomainError


class Command(BaseCommand):
    help = "Create an organization with an owner login and a first API key."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--admin-email", required=True)
        parser.add_argument("--admin-password", required=True)
        parser.add_argument("--json", action="store_true", help="Print {organizationId, apiKey} as JSON.")

    def handle(self, *args, name, admin_email, admin_password, **options):
        try:
            organization, user = organization_create(
                name=name, admin_email=admin_email, admin_password=admin_password
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        _, raw_key = api_key_create(
            organization=organization, name="Created with the organization", created_by=user
        )
        if options["json"]:
            self.stdout.write(json.dumps({"organizationId": organization.display_id, "apiKey": raw_key}))
        else:
            self.stdout.write(
                f"Organization {organization.name} ({organization.display_id})\nAPI key: {raw_key}"
            )
