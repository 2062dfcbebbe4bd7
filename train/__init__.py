"""Workstation side of emotion-edge: data sets, model, training and evaluation."""
