"""Phrase rules for a paper's study design: each rule is a phrase that, where it is about *this* paper, decides.

A rule must be right nearly every time it fires (a clinician filtering to trials must not get a cohort study), so
each one was checked on the development set of ``tests/data/study_designs`` before it was kept. Phrases in the
abstract are matched sentence by sentence, and a sentence that speaks of other work ("previous studies", "trials
have shown") without a word for this one ("we", "this", "our") is skipped: background is not design. Where no rule
decides, :mod:`indexer.text.design_model` reads the whole abstract.

Size: one table of phrase rules per design, each with the exceptions the labelled abstracts showed it needs; split,
a rule and its exceptions would live apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from indexer.text.sentences import split_sentences
from medcore.study_types import StudyType


@dataclass(frozen=True)
class Design:
    study_type: StudyType
    evidence: str  # 'title: "case report"', 'methods: "retrospective, observational study"', or the model's note
    confidence: float | None = None  # set when the trained model decided; None for a phrase rule
    rule: str | None = None  # which phrase rule decided, e.g. "cohort_case_control|abstract:cohort_weak"


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_ANIMALS = r"(?:rats?|mice|mouse|murine|rabbits?|hamsters?|guinea\s+pigs?|piglets?|pigs|swine|sheep|dogs|canine" \
           r"|monkeys?|primates|zebrafish|alligators|chickens|broilers|drosophila|C\.\s*elegans)"
_BIBLIO = r"(?:medline|pubmed|embase|cochrane(?:\s+library)?|cinahl|psycinfo|web\s+of\s+science|scopus" \
          r"|google\s+scholar" \
          r"|electronic\s+databases|bibliographic\s+databases|literature\s+databases)"

_SR = _rx(r"\b(systematic(?:al)?\s+(?:literature\s+)?review|meta-?\s?analys[ie]s|meta-analytic|umbrella\s+review"
          r"|cochrane\s+review|pooled\s+analysis\s+of\s+(?:randomi[sz]ed|trials))")
_SEARCH = _rx(rf"\b((?:we\s+)?searched\s+(?:the\s+)?(?:\w+\s+){{0,3}}{_BIBLIO}|{_BIBLIO}(?:\s*(?:,|and|or)\s*"
              rf"{_BIBLIO})*\s*(?:\([^)]*\)\s*)?(?:databases?\s+)?(?:were|was)\s+(?:systematically\s+)?searched"
              r"|systematic(?:ally)?\s+(?:literature\s+)?search(?:ed)?|search\s+strateg(?:y|ies)"
              r"|literature\s+search\s+identified|(?:medline|pubmed|embase)\s+and\s+manual\s+search"
              r"|data\s+sources?(?:\s+and\s+(?:extraction|selection))?\s*:"
              rf"|literature\s+search\s+(?:was\s+)?(?:conducted|performed)|(?:studies|articles|reports)\s+"
              rf"(?:published\s+)?in\s+{_BIBLIO}|using\s+the\s+search\s+terms?"
              rf"|reviewed\s+the\s+(?:\w+\s+){{0,2}}literature\s+(?:through|in|using|via)\s+{_BIBLIO}"
              rf"|(?:citations|references|articles|records|studies)\s+(?:\w+\s+){{0,2}}(?:found|identified|retrieved)\s+"
              rf"in\s+(?:(?:the\s+)?(?:electronic\s+)?databases?\s*\(?\s*)?{_BIBLIO})")
#: A review that counts the studies it found has searched for them, even where the abstract does not say how.
_STUDIES_FOUND = _rx(r"\b(?:we\s+)?(?:identified|included|retrieved|found)\s+\d+\s+(?:[\w-]+\s+){0,3}(?:studies|trials"
                     r"|articles|publications)\b")
_GUIDELINE = _rx(r"\b((?:clinical\s+)?practice\s+guidelines?|it\s+is\s+the\s+position\s+of|position\s+(?:statement"
                 r"|paper)|consensus\s+(?:statement|report|conference|development)|scientific\s+statement"
                 r"|(?:task\s+force|expert\s+committee|expert\s+panel|guidance\s+panel|working\s+group)\s+(?:was|were"
                 r"|report|recommend\w*|convened|summari[sz]es)|(?:this|these|the\s+present)\s+guidelines?"
                 r"|guidelines?\s+(?:development|panel)|practice\s+parameter)")
_GUIDELINE_TITLE = _rx(r"\b((?:clinical\s+)?practice\s+guidelines?|position\s+(?:statement|paper|of\s+the)"
                       r"|consensus\s+(?:statement|report)|scientific\s+statement|report\s+of\s+(?:a|the)\s+(?:\w+\s+)"
                       r"{0,6}(?:committee|subcommittee|task\s+force|working\s+group|panel)|recommendations?\s+(?:of"
                       r"|from)\s+the|guidelines?\s+(?:for|on)\s+the\s+(?:diagnosis|management|treatment|prevention"
                       r"|evaluation))")
_RCT = _rx(r"\b((?:were|was)\s+(?:then\s+)?(?:randomly\s+(?:assigned|allocated|divided)|randomi[sz]ed)\b"
           r"|we\s+randomi[sz]ed\s+\d+|randomi[sz]ed,?\s+(?:[\w-]+,?\s+){0,3}(?:cross[\s-]?over|repeated-measures)\s+"
           r"(?:\w+\s+){0,2}(?:trials?|study|design)"
           r"|(?<!non-)(?<!non)(?<!non\s)randomi[sz]ed(?:,?\s+(?:double|single|triple)-?\s*blind(?:ed)?)?"
           r"(?:,?\s+(?:placebo|sham)-?\s*controlled)?"
           r",?\s+(?:controlled\s+|clinical\s+|crossover\s+|cross-over\s+|parallel(?:-group)?\s+|pilot\s+|prospective\s+"
           r"|open(?:-label)?\s+|multicen(?:ter|tre)\s+|phase\s+\w+\s+)*(?:trial|study|design|fashion)"
           r"|(?:double|single|triple)-?\s*blind(?:ed)?,?\s+(?:and\s+)?(?:placebo-controlled,?\s+)?(?:and\s+)?randomi[sz]ed"
           r"|randomi[sz]ation\s+of\s+\d+|(?:computer-generated|block|stratified)\s+randomi[sz]ation"
           r"|(?:modified\s+)?random\s+(?:assignment|allocation)|(?:post\s+hoc|secondary)\s+analysis\s+of\s+(?:an?|the)"
           r"\s+(?:\w+\s+){0,3}(?:randomi[sz]ed|RCT))")
_CASE_REPORT = _rx(r"(?<!excluded\s)(?<!excluding\s)\b(case\s+reports?|case\s+series|we\s+(?:report|describe"
                   r"|present)\s+(?:a|an|the|two|three|four|five|six|seven|eight|nine|ten)\s+(?:\w+\s+){0,5}(?:cases?|patients?|man|woman|boy|girl|infants?"
                   r"|child|neonates?)|a\s+case\s+(?:is|was)\s+(?:reported|described|presented)|(?:this|our)\s+case\b(?!\s*-)"
                   r"|(?:a|an)\s+\d+-(?:year|month|week|day)-old\s+(?:\w+\s+){0,2}(?:man|woman|male|female|boy|girl"
                   r"|patient|infant|child)|(?:a|an)\s+(?:near\s+)?(?:fatal|rare|unusual|unique)\s+case)")
_CASE_TITLE = _rx(r"\b(case\s+reports?|case\s+series|case\s+study|(?:a|rare|unusual|first|fatal)\s+(?:\w+\s+)?case"
                  r"\s+of|in\s+an?\s+\d+-year-old)\b")
_CROSS = _rx(r"\b(cross-?\s?sectional(?!\s+(?:surface|area|images?|imaging|views?|slices?))|transversal\s+study"
             r"|(?:a|this|the|our)\s+(?:\w+\s+){0,3}survey\b"
             r"|(?:web-based|online|postal|telephone|national|questionnaire)\s+survey|national\s+health\s+and\s+nutrition\s+"
             r"examination\s+survey|nhanes)")
_COHORT = _rx(r"\b(case-?\s?control(?:led)?|nested\s+case|cohort\s+(?:study|of|analysis)|inception\s+cohort"
              r"|(?:prospective"
              r"|retrospective|population-based|longitudinal|historical|birth|matched)\s+(?:\w+\s+){0,2}cohort"
              r"|prospectively\s+followed|followed\s+(?:up\s+)?for\s+(?:a\s+)?(?:median|mean|average|up\s+to)?\s*(?:of\s+)?\d"
              r"|\d+\s+years?\s+of\s+follow-?up|incident\s+(?:cases|cancers?|diabetes|myocardial))")
#: Phrases that make a cohort only where the abstract also compares groups or looks for predictors: without a
#: comparison, a retrospective review of every treated patient is a case series.
_COHORT_WEAK = _rx(r"\b(retrospective(?:ly)?,?\s+(?:\w+,?\s+){0,2}(?:study|review(?:ed)?|analy[sz](?:is|ed)|chart"
                   r"|observational"
                   r"|data|case\s+review|outcome)|(?:prospective|longitudinal)\s+(?:\w+\s+){0,2}(?:study|follow-?up)"
                   r"|(?:medical|hospital|case)\s+(?:records|charts|notes)\s+(?:of\s+(?:\w+\s+){1,8})?(?:were\s+)?"
                   r"(?:retrospectively\s+)?reviewed|chart\s+review|reviewed\s+the\s+(?:\w+\s+)?(?:records|charts|case\s+notes|files))")
_COMPARISON = _rx(r"\b(compared?|comparison|versus|vs\.?|groups?|controls?|associat\w+|predict\w*|risk\s+factors?"
                  r"|odds|hazard|multivariate|regression)\b")
_IN_VITRO = _rx(r"\b(in\s+vitro|cell\s+lines?|cultured\s+(?:\w+\s+)?cells|(?:HeLa|Caco-2|HepG2|MCF-?7|THP-1|HEK293"
                r"|PC-?3|LNCaP|HT-?29|A549|Jurkat)\b|xenografts?|animal\s+models?|ex\s+vivo|microsomes|salmonella\s+"
                r"(?:assay|mutagenicity)|ames\s+test)")
_ANIMAL = _rx(rf"\b((?:\d+|groups?\s+of|male|female|adult|juvenile|pregnant)\s+(?:\(\w+\)\s+)?"
              rf"(?:[\w-]+\s+){{0,3}}{_ANIMALS}\b|{_ANIMALS}\s+(?:were|was)\s+(?:\w+\s+)?(?:divided|assigned|allocated"
              rf"|treated|fed|given|injected|exposed|used|randomi[sz]ed|housed|killed|sacrificed)"
              rf")")
#: Results that only a primary study reports: counts of people, statistics.
_DATA = _rx(r"(\b\d[\d,.]*\s+(?:\w+\s+){0,3}(?:patients|subjects|participants|volunteers|women|men|children|infants"
            r"|adults"
            r"|cases|controls|individuals|persons|people|respondents|students|residents|workers|specimens|samples|rats|mice)"
            r"\b|\bp\s*[<=>]\s*0?\.\d|\b95\s*%\s*(?:CI|confidence)|\bn\s*=\s*\d|odds\s+ratio|hazard\s+ratio"
            r"|relative\s+risk|significantly|\bmean\s*\(|\bsd\b|\+/-|±)")
#: People given a diet or product by the investigators, with no random allocation stated: a non-randomised
#: intervention, which none of the designs covers.
_GIVEN = _rx(r"\b((?:subjects|volunteers|participants|men|women|adults|patients|athletes)\s+(?:\w+\s+){0,3}"
             r"(?:consumed|were"
             r"\s+(?:given|fed|supplemented|provided)|ingested|received\s+(?:a|an|the|\d))"
             r"|(?:test|high-fat|high-carbohydrate)\s+meals?\b)")
#: A study that says its own allocation was not random: a non-randomised intervention, none of the designs.
_NON_RANDOMISED = _rx(r"\b(non-?\s?randomi[sz]ed,?\s+(?:[\w-]+,?\s+){0,2}(?:study|trial|intervention|design))")
_SURVEYISH = _rx(r"\b(questionnaires?|surveyed|prevalence\s+of|interviewed)\b")
_TIME = _rx(r"\b(follow(?:ed)?-?\s?up|followed|incidence|subsequent(?:ly)?|developed|years\s+later|outcomes?|mortality"
            r"|survival|recurrence|retrospective\w*|prospective\w*|cohort|before\s+and\s+after|after\s+\d)\b")
_METHODS = _rx(r"\b(methods?|we\s+(?:measured|tested|studied|examined|assessed|analy[sz]ed|investigated|compared|used"
               r"|conducted|performed|determined|evaluated)|(?:was|were)\s+(?:measured|tested|assessed|analy[sz]ed"
               r"|determined|examined|evaluated|collected|obtained|recorded|treated|incubated|exposed|studied))\b")
_HUMAN_TRIAL = _rx(r"\b(volunteers|participants|patients|subjects|women|men|children|adults|athletes|humans|people"
                   r"|individuals)\b")
_MODELLING = _rx(r"\b(cost-effectiveness\s+analysis|cost-utility\s+analysis|markov\s+model|decision\s+analy\w+\s+model"
                 r"|(?:dynamic|simulation|mathematical)\s+models?)\b")
_DIAGNOSTIC = _rx(r"\b(diagnostic\s+(?:accuracy|performance)|(?:as|with)\s+(?:the\s+)?reference\s+standard"
                  r"|sensitivity\s+and\s+specificity\s+of)\b")
#: Committees and societies named in a title as its authors: their reports and commentaries are guidance.
_BODY_TITLE = _rx(r"\b((?:by|of|from)\s+the\s+(?:[\w/-]+\s+){1,6}(?:committee|subcommittee|task\s+force"
                  r"|working\s+group"
                  r"|expert\s+panel))")
_REVIEW = _rx(r"\b((?:this|the\s+present|our|the\s+current)\s+(?:narrative\s+|brief\s+|mini-?\s?)?review|in\s+this"
              r"\s+(?:\w+\s+)?(?:article|paper|review)\s+(?:we|I)\s+(?:review|discuss|summari[sz]e|describe|outline)"
              r"|(?:we|I)\s+review|(?:here|in\s+this\s+\w+),?\s+we\s+reviewed\s+(?:the\s+)?(?:\w+\s+){0,2}(?:evidence|literature"
              r"|studies|findings)|purpose\s+of\s+review|narrative\s+review|(?:this|the)\s+(?:article|paper)\s+"
              r"(?:reviews|discusses|summari[sz]es|examines\s+the\s+evidence)|(?:is|are)\s+(?:briefly\s+)?reviewed"
              r"|review\s+of\s+the\s+(?:current\s+)?literature|(?:this|the)\s+(?:review|overview)\s+(?:summari[sz]es"
              r"|discusses|focuses|highlights|describes)|forum\s+article|commentary)\b")
_REVIEW_TITLE = _rx(r"(?:^|[:.?]\s*(?:an?\s+)?(?:\w+\s+){0,2}|\b(?:a|an)\s+(?:\w+\s+)?)(?<!chart\s)(?<!case\s)"
                    r"(?<!retrospective\s)(review|overview|commentary)\b")
_OTHER_WORK = _rx(r"\b((?:studies|trials|reports|evidence|data|research|literature)\s+(?:\w+\s+){0,2}(?:have|has|had"
                  r"|suggest\w*|show\w*|indicate\w*|report\w*|found|demonstrat\w*)|previous(?:ly)?|prior|earlier"
                  r"|recent(?:ly)?|published|in\s+the\s+literature|have\s+(?:been\s+)?(?:shown|suggested|reported"
                  r"|demonstrated|found)|has\s+been|(?:are|is)\s+(?:\w+\s+)?(?:needed|required|warranted)|future"
                  r"|should\s+be)\b")
#: Work a paper asks for: its design is not the paper's, even in a sentence that names "this study".
_FUTURE_WORK = _rx(r"\b((?:trials?|studies|research)\s+(?:\w+\s+){0,2}(?:are|is)\s+(?:\w+\s+)?"
                   r"(?:needed|required|warranted)|(?:future|further|larger)\s+(?:\w+\s+){0,2}(?:trials?|studies)\s+(?:are|is|should|will|would))\b")
_THIS_WORK = _rx(r"\b(we|our|this\s+(?:\w+\s+){0,2}(?:study|trial|paper|article|analysis|review|report|work|survey"
                 r"|investigation|series|case)|present|current|here|(?:was|were)\s+(?:conducted|performed|carried\s+out|undertaken"
                 r"|searched|included|identified))\b")
_PRIMARY = _rx(r"\b(we\s+(?:enrolled|recruited|measured|analy[sz]ed|examined|studied|followed|included|assessed"
               r"|compared|evaluated|investigated)|patients\s+(?:were|who)|participants\s+(?:were|who)|subjects\s+were"
               r"|were\s+enrolled|were\s+recruited)\b")

#: A survey whose people were then followed to their deaths ("NHANES III Mortality Study"): a cohort.
_LINKED_DEATHS = _rx(r"\b(mortality\s+(?:study|follow-?up|linkage|files?)|linked\s+mortality|hazard\s+ratios?)\b")
#: "a prospective survey of 1648 diverse food items": food microbiology or chemistry, not a survey of people.
_SURVEY_OF_GOODS = _rx(r"\s+of\s+(?:[\d,]+\s+)?(?:[\w-]+\s+){0,2}(?:foods?|items|samples|products|meats?|markets"
                       r"|stores)\b")
_CROSS_TITLE = _rx(r"\b(cross-?\s?sectional)")
_COHORT_TITLE = _rx(r"\b(case-?\s?control(?:led)?\s+study|cohort\s+study|prospective\s+study)")
_ANIMAL_TITLE = _rx(r"\b(rats?|mice|murine|rabbits?|hamsters?|in\s+vitro|cell\s+lines?)\b")
#: "review of 67 ... trials", "a review of cases": a pooled analysis or a case review, not a narrative review.
_REVIEW_OF_ITEMS = _rx(r"\s+of\s+(?:\d[\d,]*|cases|records|charts|patients)\b")
_PURPOSE_OF_REVIEW = _rx(r"\b(purpose\s+of\s+(?:this\s+)?review)\b")
_NON_SYSTEMATIC = _rx(r"\b(non-?\s?systematic\s+(?:\w+\s+)?review)")


def _quote(where: str, match: re.Match[str]) -> str:
    return f'{where}: "{" ".join(match.group(1).split())}"'


def _found(kind: StudyType, where: str, match: re.Match[str], evidence: str | None = None) -> Design:
    # A Methods phrase is judged as the same phrase in an abstract: too few Methods sections in dev to measure apart.
    place = "title" if where == "title" else "abstract"
    return Design(kind, evidence or _quote(where, match), rule=f"{kind}|{place}:{_rule_name(match.re)}")


def _rule_name(pattern: re.Pattern[str]) -> str:
    """The rule's module-level name, lower case without the underscore (``_COHORT_WEAK`` -> ``cohort_weak``)."""
    return next((name.strip("_").lower() for name, value in globals().items() if value is pattern), "unnamed")


def own_sentences(text: str) -> str:
    """The sentences of ``text`` that may describe this paper: those about other work, and the work still to do
    ("larger randomised trials are warranted to confirm the findings of this study"), are dropped."""
    kept = []
    for start, end in split_sentences(text):
        sentence = text[start:end]
        if (_OTHER_WORK.search(sentence) and not _THIS_WORK.search(sentence)) or _FUTURE_WORK.search(sentence):
            continue
        kept.append(sentence)
    return " ".join(kept)


def from_title(title: str, abstract: str) -> Design | None:
    if match := _SR.search(title):
        return _found("systematic_review", "title", match)
    if (match := _GUIDELINE_TITLE.search(title)) or (match := _BODY_TITLE.search(title)):
        if not re.search(r"\b(adherence|adhering|concordance|compliance|according)\b", title, re.I):
            return _found("guideline", "title", match)
    if (match := _RCT.search(title)) and not re.search(r"\b(of|among)\s+randomi[sz]ed", title, re.I):
        return _found("rct", "title", match)
    if match := _CASE_TITLE.search(title):
        return _found("case_report", "title", match)
    if match := _CROSS_TITLE.search(title):
        return _found("cross_sectional", "title", match)
    if match := _COHORT_TITLE.search(title):
        return _found("cohort_case_control", "title", match)
    if (match := _REVIEW_TITLE.search(title)) and not _REVIEW_OF_ITEMS.match(title[match.end():]):
        if not re.search(r"non-?\s?systematic", abstract, re.I) and (search := _SEARCH.search(abstract)):
            return _found("systematic_review", "title", match,
                          f"{_quote('title', match)}; {_quote('abstract', search)}")
        return _found("narrative_review", "title", match)
    if ((match := _ANIMAL_TITLE.search(title))
            and not _RCT.search(abstract) and not _HUMAN_TRIAL.search(title)):
        return _found("animal_in_vitro", "title", match)
    return None


def from_text(text: str, where: str, abstract: str | None = None) -> Design | None:
    """The design that a phrase of ``text`` (an abstract or a Methods section) decides, strongest first.
    ``abstract``: for a Methods section, the abstract, where a comparison of groups is looked for (a Methods
    section always names groups and controls somewhere)."""
    if match := _PURPOSE_OF_REVIEW.search(text):
        return _found("narrative_review", where, match)
    own = own_sentences(text)
    if match := _NON_SYSTEMATIC.search(own):
        return _found("narrative_review", where, match)
    if (match := _SR.search(own)) or (match := _SEARCH.search(own)):
        if match.re is _SEARCH or _SEARCH.search(own) or match.start() < 300 or _STUDIES_FOUND.search(own):
            return _found("systematic_review", where, match)
    if match := _GUIDELINE.search(own):
        return _found("guideline", where, match)
    animal = _ANIMAL.search(own)
    review = _REVIEW.search(own)
    if review and not _PRIMARY.search(own):
        return _found("narrative_review", where, review)
    if match := _MODELLING.search(own):
        return _found("other", where, match)
    if (match := _DIAGNOSTIC.search(own)) and not _RCT.search(own):
        return _found("other", where, match)
    if match := _NON_RANDOMISED.search(own):
        return _found("other", where, match)
    if match := _RCT.search(own):
        before = own[max(0, match.start() - 80): match.start()]
        if animal and re.search(_ANIMALS, before, re.I):
            return _found("animal_in_vitro", where, animal)
        return _found("rct", where, match)
    if match := _CASE_REPORT.search(own):
        return _found("case_report", where, match)
    if animal and not review:
        return _found("animal_in_vitro", where, animal)
    if (match := _IN_VITRO.search(own)) and not _HUMAN_TRIAL.search(own) and not review:
        return _found("animal_in_vitro", where, match)
    if (match := _CROSS.search(own)) and not _LINKED_DEATHS.search(own) and not _SURVEY_OF_GOODS.match(
            own[match.end():]):
        return _found("cross_sectional", where, match)
    if match := _COHORT.search(own):
        return _found("cohort_case_control", where, match)
    weak = _COHORT_WEAK.search(own)
    if weak and abstract is not None and re.search(r"analy[sz]\w*|data$", weak.group(1), re.IGNORECASE):
        weak = None  # in Methods, "a retrospective analysis of" a published study's data is no design of its own
    if (match := weak) and _COMPARISON.search(own if abstract is None else abstract):
        return _found("cohort_case_control", where, match)
    data = _DATA.search(own)
    if (match := _GIVEN.search(own)) and data and not _TIME.search(own) and not _SURVEYISH.search(own):
        return _found("other", where, match, _quote(where, match) + " (no random allocation stated)")
    if (match := _SURVEYISH.search(own)) and data and not _TIME.search(own):
        return _found("cross_sectional", where, match)
    return None


#: Phrase features for the trained model: each pattern's presence in the abstract's own sentences (0 or 1).
FEATURES: dict[str, re.Pattern[str]] = {
    "sr": _SR, "search": _SEARCH, "guideline": _GUIDELINE, "rct": _RCT, "case_report": _CASE_REPORT,
    "cross": _CROSS, "cohort": _COHORT, "in_vitro": _IN_VITRO, "animal": _ANIMAL, "review": _REVIEW,
    "primary": _PRIMARY, "human": _HUMAN_TRIAL,
    "randomish": _rx(r"\b(random\w*|placebo|crossover|cross-over|blind\w*)\b"),
    "followup": _rx(r"\b(follow(?:ed)?-?\s?up|followed|incidence|hazard\s+ratio|survival|mortality)\b"),
    "diagnostic": _rx(r"\b(sensitivity|specificity|diagnostic\s+(?:accuracy|value|yield|performance)|reference"
                      r"\s+standard|positive\s+predictive|ROC|area\s+under)\b"),
    "model": _rx(r"\b(model(?:l)?ing|markov|decision\s+analy\w+|cost-effective\w*|simulat\w+|projection)\b"),
    "consecutive": _rx(r"\b(consecutive|medical\s+records|charts?|retrospective\w*)\b"),
    "data": _DATA, "given": _GIVEN, "surveyish": _SURVEYISH, "time": _TIME, "methods": _METHODS,
    "diagnostic_rule": _DIAGNOSTIC, "modelling_rule": _MODELLING, "comparison": _COMPARISON,
    "cohort_weak": _COHORT_WEAK,
    "intervention": _rx(r"\b(consumed|supplement\w*|intervention|diet\s+(?:period|was)|test\s+meals?|ingest\w+)\b"),
}


#: Names of the values :func:`phrase_features` returns, in order (the model file records them).
FEATURE_NAMES = (*FEATURES, "no_data")


def phrase_features(title: str, abstract: str) -> list[float]:
    own = own_sentences(abstract)
    found = [1.0 if pattern.search(own) or pattern.search(title) else 0.0 for pattern in FEATURES.values()]
    no_data = not _DATA.search(abstract) and not _PRIMARY.search(abstract) and not _METHODS.search(abstract)
    return [*found, 1.0 if no_data else 0.0]
