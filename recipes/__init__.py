"""Recipes that produce hubtool artifacts."""
