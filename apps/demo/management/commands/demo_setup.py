"""Create (once) a demo organization with a login, an API key and a little data; print how to use it.

The demo key's plaintext is kept in var/demo-credentials.json (local, git-ignored) so that every
`make run` can print it; keys are otherwise stored only as hashes. A revoked demo key is replaced."""

import json
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from apps.accounts.selectors import organization_get
from apps.accounts.services import api_key_authenticate, api_key_create, organization_create
from apps.common.exceptions import NotFound

DEMO_EMAIL = "admin@demo.tally.local"
DEMO_PASSWORD = "tally-demo-123"


def _credentials_path() -> Path:
    return Path(settings.BASE_DIR) / "var" / "demo-credentials.json"


class Command(BaseCommand):
    help = "Create the demo organization once and print the dashboard URL, login and API key."

    def add_arguments(self, parser):
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000", help="where the dashboard will be served"
        )

    def handle(self, *args, url: str, **options):
        path = _credentials_path()
        saved = json.loads(path.read_text()) if path.exists() else {}
        organization = None
        if saved.get("organizationId"):
            try:
                organization = organization_get(organization_id=saved["organizationId"])
            except NotFound:
                organization = None
        if organization is None:
            organization, _ = organization_create(
                name="Demo AI Co", admin_email=DEMO_EMAIL, admin_password=DEMO_PASSWORD
            )
            call_command("load_demo", organization=organization.display_id, stdout=self.stdout)
            saved = {"organizationId": organization.display_id}
        if not saved.get("apiKey") or api_key_authenticate(raw_key=saved["apiKey"]) is None:
            _, saved["apiKey"] = api_key_create(organization=organization, name="Demo key (make run)")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(saved, indent=2))
        path.chmod(0o600)

        self.stdout.write(
            "\n".join(
                [
                    "",
                    "  Tally is starting.",
                    f"  Dashboard:  {url}/",
                    f"  Login:      {DEMO_EMAIL} / {DEMO_PASSWORD}",
                    f"  API key:    {saved['apiKey']}",
                    f"  API:        {url}/api/v2  (docs: {url}/api/v2/docs/)",
                    "  Try:        curl -H 'Authorization: Bearer <API key>' " + f"{url}/api/v2/customers",
                    "",
                ]
            )
        )
