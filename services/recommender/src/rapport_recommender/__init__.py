"""Rapport recommender service."""
