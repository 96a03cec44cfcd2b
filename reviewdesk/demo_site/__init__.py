"""The bundled demo review site: anonymised Trustpilot-like pages with pagination on 127.0.0.1."""

from reviewdesk.demo_site.server import DemoSite, load_companies, new_review_id, review_bodies

__all__ = ["DemoSite", "load_companies", "new_review_id", "review_bodies"]
