{#
    Tag handling for the FOCUS `tags` column (jsonb object).

    normalise_tag_keys: the same object with every key lower-cased ("Team" -> "team"); values are kept as
    delivered. If two keys only differ by case, the one that sorts last wins (jsonb_object_agg keeps the last).
    NULL or non-object input gives NULL.

    tag_dimension: the first non-blank value among `keys` (looked up in a key-normalised object), trimmed and
    lower-cased, or 'untagged' when none is present.
#}
{% macro normalise_tag_keys(tags) -%}
    case
        when jsonb_typeof({{ tags }}) = 'object'
            then (
                select jsonb_object_agg(lower(tag.key), tag.value order by tag.key)
                from jsonb_each({{ tags }}) as tag
            )
    end
{%- endmacro %}

{% macro tag_dimension(normalised_tags, keys) -%}
    coalesce(
        {%- for key in keys %}
        nullif(lower(trim({{ normalised_tags }} ->> '{{ key }}')), ''),
        {%- endfor %}
        'untagged'
    )
{%- endmacro %}
