from django.apps import AppConfig


class CheckoutConfig(AppConfig):
    name = "apps.checkout"

    def ready(self) -> None:
        # Billing sits below checkout: its webhook inbox announces a succeeded SetupIntent, and a checkout whose
        # buyer confirmed a card but never came back to the page is completed from it.
        from apps.billing.stripe_services import setup_intent_succeeded
        from apps.checkout.services import checkout_on_setup_intent_succeeded

        setup_intent_succeeded.connect(checkout_on_setup_intent_succeeded)

        # The customer state (served by credits, below) lists the customer's checkout links.
        from apps.checkout.selectors import checkout_links_for_state
        from apps.credits.selectors import customer_state_extend

        customer_state_extend.connect(checkout_links_for_state)
