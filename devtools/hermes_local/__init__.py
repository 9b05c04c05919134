"""Local development helpers: a patched moto server (``aws``) and Terraform plumbing (``terraform``)."""
