"""Reading articles: files (.txt, .json, .jsonl, .html) and saved web pages into article fields."""
