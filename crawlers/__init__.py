"""Reviewdesk's Scrapy project: spiders that turn public review pages into JSONL feeds."""
