"""The sandbox's pages, one module per part of the clinical system."""
