"""The patterns ``service.core.boilerplate`` applies: one family of page furniture each, with
the reason it is safe (they look for the reader being addressed, or for a whole line that is
nothing but the furniture, so reporting that mentions "support" or "video" stays)."""

from __future__ import annotations

import re

_I = re.IGNORECASE

# Donation appeals address the reader and ask for money or membership. Bare "support",
# "donate" or "member" are common in news ("the EU would support Ukraine"), so each pattern
# needs the appeal's own wording.
_DONATION = re.compile(
    r"\bsupport us\s+(?:on|via|at|by|with|through|today|now)\b"
    r"|\bsupport (?:our|independent) (?:journalism|reporting|newsroom|work)\b"
    r"|\bbecome an? (?:patron|(?:paying )?(?:member|supporter|subscriber) (?:today|now))\b"
    r"|\b(?:please )?donate (?:now|today|to us|to our)\b"
    r"|\bbuy (?:us|me) a coffee\b|\breaders like you\b|\bpatreon\.com\b",
    _I,
)
# Ad-blocker notices ask the reader to switch theirs off; a report about ad blockers does not.
_AD_BLOCK = re.compile(
    r"(?:^|\bplease |\bkindly )"
    r"(?:disabl\w*|turn\w* off|switch\w* off|whitelist\w*|allowlist\w*|paus\w*)\b"
    r"[^.!?]{0,30}\bad[\s-]?block"
    r"|\byour ad[\s-]?block|\bad[\s-]?block\w* (?:is |has been |was )?detected\b",
    _I,
)
# Subscription pitches and syndication notices ("only a portion of the stories offered to
# subscribers"), newsletter sign-ups and paywall prompts.
_SUBSCRIPTION = re.compile(
    r"\bcontact us for subscription|\bsubscription options\b"
    r"|\b(?:stories|news|content|articles|reports)\b[^.!?]{0,30}"
    r"\b(?:offered|available) (?:only )?to (?:our )?subscribers\b"
    r"|\b(?:subscribe|sign up) (?:to|for) (?:our|the|this)(?: [\w'’-]+){0,3} newsletters?\b"
    r"|(?:^|\bplease )subscribe\b|\balready a subscriber\b|^(?:for )?subscribers? only\b",
    _I,
)
# Cookie banners speak for the site ("we use cookies"); "the company's cookie policy" in a
# report does not match.
_COOKIES = re.compile(
    r"\bwe use cookies\b|\b(?:this|our) (?:site|website) uses cookies\b"
    r"|\baccept (?:all )?cookies\b|\bmanage (?:your )?cookie (?:settings|preferences)\b",
    _I,
)
# Sign-offs to the reader close an appeal; news copy does not thank its readers.
_THANKS = re.compile(
    r"^thanks?(?: you)? for (?:reading|visiting|watching|your support|supporting)\b", _I
)
# Feedback prompts ("To suggest a correction ..., write to us here", "press Ctrl + Enter") are
# site instructions; "the newspaper published a correction" does not end in "here"/"us".
CORRECTIONS = re.compile(
    r"\bctrl\s*\+\s*enter\b"
    r"|^(?:to (?:suggest|report)|please (?:leave|send|report|suggest)|report an?)\b[^.!?]*"
    r"\b(?:corrections?|clarifications?|typos?|errors?|mistakes?)\b[^.!?]*\b(?:here|us)\s*[.!]?$",
    _I,
)
# Link labels and share/follow/copyright furniture ("Related:", "Read more: ...", "Click here",
# "Share this article", "Follow us on ...") point elsewhere; their text is not a claim here.
LINKS = re.compile(
    r"\bclick here\b|\btap here\b|^(?:related|see also|also read|read (?:more|also|next)"
    r"|more on this|recommended|most read|you may also like)\b[^:.!?]{0,20}:"
    r"|^read (?:more|also|next)\b|^share (?:this|on|via)\b"
    r"|\bshare this (?:article|story|post|page)\b|\bfollow us (?:on|at|for)\b"
    r"|\bstory continues below\b|\ball rights reserved\b|^(?:©|\(c\)|copyright\s*(?:©\s*)?\d{4})",
    _I,
)
# Labels of links to video ("Watch the latest video at foxnews.com") are often glued to the
# next paragraph's first sentence: they are cut off as a prefix (see strip_prefix).
WATCH_PREFIX = re.compile(
    r"watch (?:the )?(?:latest |more |full |new |all )?(?:videos?|clips?|coverage|episodes?)"
    r"(?:\s+(?:at|on)\s+(?:[\w-]+\.)+[a-z]{2,}(?:/[^\s\"“”'‘’]*)?[\s:|–—-]*|\s*[:|–—-]+\s*|\s*$)",
    _I,
)
# "Advertisement" glued to the next sentence without a space ("AdvertisementThe minister").
AD_PREFIX = re.compile(r"advertisement(?=[\"“(\[]|(?-i:[A-Z]))[\s:|–—-]*", _I)
# Bylines: "By Jane Doe", "byYuri Zoria" (scrapers drop the space), "By AFP", and agency credit
# trailers ("Reporting by Jane Doe; Editing by John Smith"). The name part must be capitalised
# words, so "By the time ..." or "By March 2025, ..." are sentences, not bylines.
_NAME = r"(?-i:[A-Z][a-z][\w'’-]*|[A-Z]\.|[A-Z]{2,6})"
_PARTICLE = r"(?:van|von|de|der|den|da|di|del|du|bin|ibn|al|el|le|la)"
_BYLINE = re.compile(
    rf"^(?:(?:written|words|story|text|compiled)\s+)?by\s*{_NAME}(?:\s+(?:{_NAME}|{_PARTICLE}))*"
    rf"(?:\s*(?:,|&|\||and)\s*{_NAME}(?:\s+(?:{_NAME}|{_PARTICLE}))*)*\s*$"
    r"|^\(?(?:additional\s+)?(?:reporting|writing|editing) by\s+(?-i:[A-Z])[^.!?]*\)?$",
    _I,
)
# Reading times ("2 minute read", "5 min read", "Reading time: 3 minutes") describe the page;
# anchored to the whole line so "a 2 minute read of the memo" in a sentence stays.
_READING_TIME = re.compile(
    r"^(?:(?:estimated )?reading time:?\s*)?(?:about\s+)?\d{1,3}\s*-?\s*min(?:ute)?s?\.?"
    r"(?:\s+(?:read|listen|watch))?$",
    _I,
)
# Bare date/time lines ("28/02/2025", "February 28, 2025 10:32am EST", "Updated 2 March 2025"),
# optionally with a "by ..." trailer left behind by a blog template ("March 1, 2025 by No
# Comments"). Every token must be a date part, so a sentence that starts with a date stays.
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DATE_TOKEN = (
    rf"(?:\d{{1,4}}[/.-]\d{{1,2}}[/.-]\d{{1,4}}|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}"
    rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?|{_MONTH}|\d{{4}}"
    r"|(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day|nesday|sday|urday)?\.?"
    r"|\d{1,2}(?:[:.]\d{2})?\s*[ap]\.?m\.?|\d{1,2}:\d{2}"
    r"|(?:gmt|utc|cet|cest|eet|eest|bst|msk|[ecmp][sd]t)(?:[+-]\d{1,2}(?::?\d{2})?)?"
    r"|(?:last |first )?(?:updated|published|posted|modified)|date|on|at)"
)
_DATE_LINE = re.compile(
    rf"^{_DATE_TOKEN}(?:[\s,|·•:–—-]+{_DATE_TOKEN})*[\s,|·•:–—-]*(?:\bby\b[^.!?]{{0,60}})?$", _I
)
# Photo credits and caption tails describe the picture's source, not the story: "Screenshot
# from broadcast", "Photo: Reuters", "(Getty Images)", "(AP Photo/Evan Vucci)". The credit after
# a label is at most four words ("Video from the scene showed troops ..." is reporting), and a
# parenthetical credit holds only names and credit words ("(Kallas declined to comment)" stays).
_CREDIT = re.compile(
    r"^[(\[]?\s*(?:file )?(?:photo(?:graph)?s?|images?|pictures?|screenshots?|screen ?grabs?"
    r"|video|footage|illustrations?|graphics?|credits?|source)(?:\s+credit)?\s*"
    r"(?::|by\b|from\b|via\b|courtesy(?:\s+of)?\b|©)\s*(?:[\w&/'’.@-]+\s*){1,4}[)\]]?\s*\.?$",
    _I,
)
_CREDIT_WORD = r"(?:photo(?:graph)?s?|images?|pictures?|screenshots?|credits?|courtesy)"
_CREDIT_TOKEN = rf"(?:(?-i:[A-Z][\w&'’.-]*)|{_CREDIT_WORD}|of|via|by|from|file|©)"
_CREDIT_PAREN = rf"[(\[]\s*{_CREDIT_TOKEN}(?:[\s/:,;-]+{_CREDIT_TOKEN}){{0,6}}\s*[)\]]"
_CREDIT_LINE = re.compile(rf"^{_CREDIT_PAREN}\.?$", _I)  # "(Getty Images)", "(Reuters)"
CREDIT_SUFFIX = re.compile(rf"{_CREDIT_PAREN}\s*$", _I)
HAS_CREDIT_WORD = re.compile(rf"\b{_CREDIT_WORD}\b", _I)
# Navigation and language switchers are site chrome, never sentences: a line of one or two
# short tokens and no punctuation ("Eng", "Esp", "Menu", "Log in"), a pipe- or bullet-separated
# menu ("Home | World | Sport"), a known site label, or a short imperative UI label of at most
# five words ("Explore related questions"); a headline of six or more words is never one.
SHORT_TOKENS = re.compile(r"^[^\W\d_]{1,4}(?:\s+[^\W\d_]{1,4})?$")
_MENU = re.compile(r"^(?:[^|•·]{1,25}[|•·]\s*){2,}[^|•·]{1,25}$")
_SITE_LABEL = re.compile(
    r"^(?:home|search|log ?(?:in|out)|sign (?:in|up|out)|register|tweet|print|e-?mail"
    r"|(?:no|\d+) comments?|comments?|leave a (?:comment|reply)"
    r"|advertisement|sponsored(?: content)?"
    r"|skip to (?:main )?content|back to top|top stories|latest news|newsletter"
    # Section and widget headings of news templates, and their load/state lines.
    r"|contact us|about us|about|authors?|features|related(?: posts| articles| stories)?"
    r"|most (?:viewed|popular|read|shared)|popular on [\w .&'’-]{1,30}|more from [\w .&'’-]{1,30}"
    r"|(?:previous|next) (?:article|item|post|story|page)|recent (?:posts|comments)"
    r"|loading(?: comments)?(?:\.\.\.|…)?|reuse this content|accessibility links"
    r"|close(?: popup)?|forgot(?:ten)? (?:your )?password\??|forget password\??"
    r"|search(?: jobs| for)?:?|leave a (?:reply|comment)(?: cancel reply)?)$",
    _I,
)
# Comment-section and sign-up furniture addressed to the reader, and contact lines that are
# nothing but a handle or an address ("Follow Jane Doe on Twitter @jdoe", "Email: ...").
_ACCOUNT = re.compile(
    r"^you must be logged in\b|^(?:to comment|once you're logged in)\b"
    r"|^please fill out this field\b|^sign in\b|^sign up (?:for|to)\b"
    r"|^follow [^.!?]{1,40} on (?:twitter|facebook|instagram|x)\b[^.!?]*$"
    r"|^(?:e-?mail|twitter|contact):?\s*\S+@\S+(?:\s+twitter:?\s*@\w+)?\s*$"
    r"|^rating:\s*\d+(?:\.\d+)?\s*comments:\s*\d+$",
    _I,
)
UI_LABEL = re.compile(
    r"^(?:ask|explore|load|show|see|view|skip|jump|listen|download|print|share|follow|subscribe"
    r"|sign|log|read|watch|click|tap|continue)\b[^.!?:;,\"“”]*$",
    _I,
)
# Datelines on a line of their own ("LONDON", "NEW YORK") say where, not what: one to three
# upper-case words and nothing else.
_DATELINE = re.compile(r"^(?-i:[A-Z][A-Z.'’-]+(?:\s+[A-Z][A-Z.'’-]+){0,2})\s*[,:–—-]?$")

# Families that address the reader with an appeal: their neighbours in the same paragraph that
# also address the reader ("You could close this page. ... Become a patron!") go with them.
APPEALS = (_DONATION, _AD_BLOCK, _SUBSCRIPTION, _COOKIES, _THANKS)
LINE_RULES = (
    _BYLINE,
    _READING_TIME,
    _DATE_LINE,
    _CREDIT,
    _CREDIT_LINE,
    _MENU,
    _SITE_LABEL,
    _ACCOUNT,
    _DATELINE,
)
# Second person, "we/our/us" and "please": case-sensitive so that "US" (the country) is not "us".
READER_ADDRESS = re.compile(r"(?-i:\b(?:[Yy]ou|[Yy]our|[Ww]e|[Oo]ur|us|[Pp]lease|[Tt]hank)\b)")
QUOTED_OR_REPORTED = re.compile(r"[\"“”«»„]|\b(?:said|says|told|added|stated|according)\b", _I)
LINE_MAX = 200  # line rules only look at short sentences: furniture is short
LABEL_MAX_WORDS = 4
SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")
UI_LABEL_MAX_WORDS = 5
