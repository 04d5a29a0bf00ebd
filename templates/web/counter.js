// Counter register form: the ward/commune list shows only the wards of the chosen province.
// A convenience only: without it the list shows every ward under its province's heading, and
// the server refuses a ward that is not in the chosen province.
(function () {
  var provinces = document.querySelectorAll('select[data-wards]');
  Array.prototype.forEach.call(provinces, function (province) {
    var wards = document.getElementById(province.getAttribute('data-wards'));
    if (!wards) return;
    function filter() {
      var chosen = province.value;
      Array.prototype.forEach.call(wards.querySelectorAll('optgroup'), function (group) {
        var other = chosen !== '' && group.label !== chosen;
        group.hidden = other;
        group.disabled = other;
      });
      var selected = wards.options[wards.selectedIndex];
      if (selected && selected.parentNode.disabled) wards.value = '';
    }
    province.addEventListener('change', filter);
    filter();
  });
})();
